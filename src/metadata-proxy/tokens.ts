import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from './types.js';

/** IMDSv2's bounds for X-aws-ec2-metadata-token-ttl-seconds. */
export const MIN_TOKEN_TTL_SECONDS = 1;
export const MAX_TOKEN_TTL_SECONDS = 21_600;

const VERSION = 1;
const PAYLOAD_BYTES = 1 + 8 + 12; // version, expiry (epoch ms), nonce
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}$/;

export type TokenCheck =
  | { readonly valid: true; readonly remainingSeconds: number }
  | { readonly valid: false; readonly reason: 'malformed' | 'wrong-task-or-forged' | 'expired' };

/**
 * IMDSv2 session tokens: opaque, stateless, bound to one task and expiring.
 * A token is `payload.mac` where payload = version, expiry and a nonce, and
 * mac = HMAC-SHA256(process key, task id + payload). Checking recomputes the
 * MAC with the *calling* task's id, so a token another task obtained fails as
 * a forgery would. The key is random per process: a restart invalidates all
 * tokens, and SDKs fetch a new one after the 401.
 */
export class TokenIssuer {
  constructor(
    private readonly clock: Clock,
    private readonly key: Buffer = randomBytes(32),
  ) {}

  issue(taskId: string, ttlSeconds: number): string {
    const payload = Buffer.alloc(PAYLOAD_BYTES);
    payload.writeUInt8(VERSION, 0);
    payload.writeBigUInt64BE(BigInt(this.clock() + ttlSeconds * 1000), 1);
    randomBytes(12).copy(payload, 9);
    return `${payload.toString('base64url')}.${this.mac(taskId, payload).toString('base64url')}`;
  }

  check(taskId: string, token: string): TokenCheck {
    if (!TOKEN_SHAPE.test(token)) return { valid: false, reason: 'malformed' };
    const [payloadText = '', macText = ''] = token.split('.');
    const payload = Buffer.from(payloadText, 'base64url');
    const presented = Buffer.from(macText, 'base64url');
    if (payload.length !== PAYLOAD_BYTES || payload.readUInt8(0) !== VERSION) return { valid: false, reason: 'malformed' };
    const expected = this.mac(taskId, payload);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      return { valid: false, reason: 'wrong-task-or-forged' };
    }
    const remainingMs = Number(payload.readBigUInt64BE(1)) - this.clock();
    if (remainingMs <= 0) return { valid: false, reason: 'expired' };
    return { valid: true, remainingSeconds: Math.ceil(remainingMs / 1000) };
  }

  private mac(taskId: string, payload: Buffer): Buffer {
    return createHmac('sha256', this.key).update(taskId, 'utf8').update('\0').update(payload).digest();
  }
}

/** The TTL header's value, or undefined when it is missing or outside 1..21600 whole seconds. */
export const parseTokenTtl = (header: string | string[] | undefined): number | undefined => {
  if (typeof header !== 'string' || !/^\d{1,5}$/.test(header.trim())) return undefined;
  const ttl = Number(header.trim());
  return ttl >= MIN_TOKEN_TTL_SECONDS && ttl <= MAX_TOKEN_TTL_SECONDS ? ttl : undefined;
};
