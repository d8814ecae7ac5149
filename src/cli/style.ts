import { styleText } from 'node:util';

/**
 * Whether to colour what goes to a stream: only a terminal, and never when NO_COLOR is set to anything but
 * the empty string (no-color.org) or TERM is dumb; FORCE_COLOR (not 0) colours even a pipe.
 */
export function wantsColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return !!stream.isTTY;
}

type Format = Parameters<typeof styleText>[0];
/** Node's own styleText when colour is wanted, the plain text otherwise. */
export const paint = (on: boolean, format: Format, text: string): string => (on ? styleText(format, text) : text);
