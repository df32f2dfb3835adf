/** nvidia-smi's output is not what the documented format says; the message names the line or field. */
export class NvidiaSmiParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NvidiaSmiParseError';
  }
}
