import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The process-wide JSON logger. Parts take a Logger in their constructor and
 * make children (`log.child({ taskId })`) so every task line carries its id.
 */
export const createLogger = (level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger =>
  pino(
    {
      level,
      base: { svc: 'titus-executor' },
      // Never log what could be a credential, whatever part logs it.
      redact: {
        paths: ['*.password', '*.secret', '*.token', '*.SecretAccessKey', '*.SessionToken', '*.Token', 'env', '*.env'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );

/** A logger that drops everything, for tests and library use. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
