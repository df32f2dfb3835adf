/**
 * A fake ContainerRuntime for the task core's unit tests: one container that
 * runs until it is stopped (it then exits 143, as on SIGTERM) or until the test
 * ends it. Every stop, removal and output read is written into `events`.
 */
import type { ContainerExit, ContainerRuntime, ContainerSummary } from '../../src/runtime/container-runtime.js';
import type { ContainerSpec, ImageConfig } from '../../src/runtime/container-spec.js';

/** The image side of a fake engine, shared by the core's fakes: every image is there, nothing is pulled. */
export abstract class ImageReadyEngine {
  async version(): Promise<string> {
    return 'fake';
  }
  async findImage(): Promise<ImageConfig | undefined> {
    return { id: 'img', entrypoint: [], cmd: ['/bin/sh'], sizeBytes: 1 };
  }
  async pullImage(): Promise<void> {}
}

export class UntilStoppedEngine extends ImageReadyEngine implements ContainerRuntime {
  private exited!: (e: ContainerExit) => void;
  private readonly exit = new Promise<ContainerExit>((r) => (this.exited = r));

  /** `output`: what a read of the container's output answers. */
  constructor(
    protected readonly events: string[] = [],
    private readonly output = '',
  ) {
    super();
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    return `c-${spec.name}`;
  }
  async startContainer(): Promise<void> {}
  waitContainer(): Promise<ContainerExit> {
    return this.exit;
  }
  async stopContainer(): Promise<void> {
    this.events.push('stop');
    this.exited({ exitCode: 143, oomKilled: false });
  }
  /** The container ends by itself with `exitCode`. */
  exitOnItsOwn(exitCode: number): void {
    this.exited({ exitCode, oomKilled: false });
  }
  async removeContainer(): Promise<void> {
    this.events.push('remove');
  }
  async containerOutput(): Promise<string> {
    this.events.push('read output tail');
    return this.output;
  }
  async listContainers(): Promise<ContainerSummary[]> {
    return [];
  }
}
