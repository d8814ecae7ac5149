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
