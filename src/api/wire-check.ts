/**
 * A structural check of protobuf wire format before decoding: every tag is
 * valid and every length-delimited field fits in the buffer. protobufjs reads
 * a truncated string leniently, so a torn ContainerInfo would otherwise decode
 * into a plausible but wrong task.
 */
export const checkWireFormat = (buf: Uint8Array): void => {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error(`truncated varint at offset ${pos}`);
      const b = buf[pos++] as number;
      if (i < 7) result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return result;
    }
    throw new Error(`varint longer than 10 bytes at offset ${pos}`);
  };
  while (pos < buf.length) {
    const at = pos;
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new Error(`field number 0 at offset ${at}`);
    if (wireType === 0) varint();
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = varint(); // read first: `pos += varint()` would use the old pos
      pos += length;
    }
    else throw new Error(`unsupported wire type ${wireType} for field ${field} at offset ${at}`);
    if (pos > buf.length) throw new Error(`field ${field} at offset ${at} runs past the end of the message`);
  }
};
