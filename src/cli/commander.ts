import { createRequire } from 'node:module';
import type * as Commander from 'commander';

/**
 * commander, loaded through its CommonJS build. Its ESM entry is a wrapper that makes Node parse the whole
 * CommonJS file for its export names first: about 15 ms more at every start of the CLI (bench/startup.ts).
 */
const commander = createRequire(import.meta.url)('commander') as typeof Commander;
export const { Command, Option, CommanderError } = commander;
export type Command = Commander.Command;
export type Option = Commander.Option;
export type CommanderError = Commander.CommanderError;
