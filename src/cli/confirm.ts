import { ConfigError } from '../util/errors.ts';

/**
 * A typed confirmation (the legacy menus' DELETE, STOP, UPDATE, DEREGISTER), asked with @inquirer/prompts on a
 * terminal. Without a terminal nothing is asked: exit 2, naming --yes. Anything but the word, or Ctrl-C,
 * changes nothing.
 */
export async function typedConfirmation(o: {
  word: string;
  question: string;
  what: string;
  refused: string;
}): Promise<void> {
  if (!process.stdin.isTTY)
    throw new ConfigError(
      `${o.what} needs a confirmation`,
      `pass --yes (scripts), or run it in a terminal and type ${o.word}`,
    );
  const { input } = await import('@inquirer/prompts');
  let answer: string;
  try {
    answer = await input({ message: `${o.question} Type ${o.word} to confirm:` }, { output: process.stderr });
  } catch (err) {
    if ((err as Error).name === 'ExitPromptError')
      throw new ConfigError(o.refused, `type ${o.word} exactly, or pass --yes`);
    throw err;
  }
  if (answer.trim() !== o.word) throw new ConfigError(o.refused, `type ${o.word} exactly, or pass --yes`);
}

/**
 * A value the command needs and was not given: asked on a terminal (with @inquirer/prompts), else exit 2 naming
 * the flag to pass. Ctrl-C at the question changes nothing.
 */
export async function askMissing(o: {
  value: string | undefined;
  flag: string;
  question: string;
  default?: string;
  validate?: (v: string) => true | string;
}): Promise<string> {
  if (o.value !== undefined && o.value !== '') return o.value;
  if (!process.stdin.isTTY)
    throw new ConfigError(`missing ${o.flag}`, `pass ${o.flag} (without a terminal nothing can be asked)`);
  const { input } = await import('@inquirer/prompts');
  try {
    return (
      await input(
        { message: o.question, default: o.default, required: true, validate: o.validate },
        { output: process.stderr },
      )
    ).trim();
  } catch (err) {
    if ((err as Error).name === 'ExitPromptError')
      throw new ConfigError('cancelled: nothing was changed', `pass ${o.flag} to skip the question`);
    throw err;
  }
}
