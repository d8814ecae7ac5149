import { Box, Text } from 'ink';
import { useState } from 'react';
import type { DeployStep } from '../../ops/deploy.ts';
import type { ScreenProps } from '../screen.ts';
import { ActionLines, Fields, Pending, useAction, useColour, useKeys, useLoad, useMenu } from '../ui.tsx';
import { TypedConfirm } from './typed-confirm.tsx';

const ACTION_TEXT = {
  create: 'will be created',
  unchanged: 'runs this specification: unchanged',
  start: 'is stopped: will be started',
  replace: 'differs: will be replaced (the follower first, the leader hands over)',
} as const;

/**
 * Deploy or update this host's pair (openwebui-sync-primary / -secondary): the dry run first (what would be
 * created or replaced, the image, the user, the mode), then `a` applies it after a typed DEPLOY (UPDATE when
 * the legacy pair runs here). The scripted twin: owui-sync deploy --dry-run, then owui-sync deploy.
 */
export function DeployScreen({ backend }: ScreenProps) {
  const c = useColour();
  const { flash } = useMenu();
  const d = useLoad(() => backend.deployPlan(), [], { live: false });
  const action = useAction();
  const [asking, setAsking] = useState(false);
  const [steps, setSteps] = useState<DeployStep[]>([]);
  const plan = d.data;
  useKeys((input) => {
    // No engine, nothing to apply to: the screen says how to get one instead.
    if (input === 'a' && plan && plan.legacy !== null && !asking && !action.busy) setAsking(true);
  });
  if (!plan) return <Pending state={d} />;
  const word = plan.legacy?.length ? 'UPDATE' : 'DEPLOY';
  if (asking)
    return (
      <TypedConfirm
        word={word}
        question={
          plan.legacy?.length
            ? `The legacy pair (${plan.legacy.join(', ')}) is stopped and removed, then the pair runs ${plan.settings.image}.`
            : `The pair runs ${plan.settings.image} as ${plan.settings.user}.`
        }
        onConfirm={() => {
          setAsking(false);
          setSteps([]);
          action.run(
            'deploying',
            () => backend.deploy(plan, (s) => setSteps((x) => [...x, s])),
            (r) => {
              flash(`the pair runs ${r.image} (${r.mode})`);
              d.reload();
            },
          );
        }}
        onCancel={() => setAsking(false)}
      />
    );
  const s = plan.settings;
  return (
    <Box flexDirection="column">
      <Fields
        rows={[
          ['image', s.image],
          ['host', `${s.host} (cluster ${s.cluster})`],
          ['mode', `${plan.mode}, network ${s.network}, APIs on ${s.publish}:${(s.ports ?? []).join(', ')}`],
          ['user', `${s.user} · ${s.tenantDirs.length} tenant folder${s.tenantDirs.length === 1 ? '' : 's'} mounted`],
          [
            'legacy pair',
            plan.legacy === null ? (
              'unknown'
            ) : plan.legacy.length ? (
              <Text key="l" color={c('yellow')}>
                {plan.legacy.join(', ')}: replaced when you apply (type UPDATE)
              </Text>
            ) : (
              'none'
            ),
          ],
        ]}
      />
      <Box flexDirection="column" marginTop={1}>
        {(plan.changes ?? []).map((x) => (
          <Text key={x.container} color={x.action === 'unchanged' ? undefined : c('cyan')}>
            {x.container}: {ACTION_TEXT[x.action]}
          </Text>
        ))}
        {plan.legacy === null ? (
          <Text color={c('red')}>
            The Docker engine cannot be reached: start it (or set DOCKER_HOST), then open this screen again.
          </Text>
        ) : plan.changes === null ? (
          <Text dimColor>swarm services: each step is shown as it is applied</Text>
        ) : null}
      </Box>
      {steps.map((x) => (
        <Text key={x.container + x.action}>
          {x.container}: {x.action}
        </Text>
      ))}
      <ActionLines action={action} />
      <Text dimColor>
        {plan.legacy === null ? '' : `a applies it (type ${word}). `}The scripted twin: owui-sync deploy --dry-run, then
        owui-sync deploy
      </Text>
    </Box>
  );
}
