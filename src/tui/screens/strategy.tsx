import { Box } from 'ink';
import { STRATEGIES, type Strategy } from '../../conflicts/strategies.ts';
import type { ScreenProps } from '../screen.ts';
import { ActionLines, List, useAction, useMenu } from '../ui.tsx';
import { STRATEGY_TEXT } from './conflict-config.tsx';

export function StrategyScreen({
  backend,
  client,
  table,
  current,
}: ScreenProps & { client: string; table: string | null; current: string }) {
  const { flash, back } = useMenu();
  const action = useAction();
  const items = STRATEGIES.map((s, i) => ({
    key: s,
    label: `${i + 1}) ${s.padEnd(12)}`,
    note: `${STRATEGY_TEXT[s]}${s === current ? ' [current]' : ''}`,
  }));
  return (
    <Box flexDirection="column">
      <List
        items={items}
        initial={current}
        onSelect={(i) =>
          action.run(
            'storing',
            () =>
              backend.changeConflictConfig(
                client,
                table ? { tables: { [table]: i.key as Strategy } } : { defaultStrategy: i.key as Strategy },
              ),
            () => {
              flash(`${client}: ${table ?? 'default'} strategy is ${i.key} (validated and stored)`);
              back();
            },
          )
        }
      />
      <ActionLines action={action} />
    </Box>
  );
}
