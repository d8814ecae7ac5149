// The direction of dependencies in src/ (docs/layout.md), checked by `npm run lint` (its second half) in CI:
//   cli / tui > ops / api > cluster > sync > pg / sqlite / conflicts > model > util
// metrics/ and docker/ are leaf adapters: they use util/ only, and any layer above sync may use them.
// A module may import its own layer and the layers below it, never one above.
const layers = [
  ['cli', 'tui'],
  ['ops', 'api'],
  ['cluster'],
  ['sync'],
  ['pg', 'sqlite', 'conflicts'],
  ['model'],
  ['util'],
];
const above = (i) => layers.slice(0, i).flat();
const upward = layers.slice(1).flatMap((group, i) =>
  group.map((name) => ({
    name: `${name}-imports-upward`,
    comment: `src/${name}/ is below ${above(i + 1).join(', ')}: it must not import them (docs/layout.md)`,
    severity: 'error',
    from: { path: `^src/${name}/` },
    to: { path: `^src/(${above(i + 1).join('|')})/` },
  })),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'adapters-are-leaves',
      comment: 'metrics/ and docker/ adapt one library each; they use util/ only',
      severity: 'error',
      from: { path: '^src/(metrics|docker)/' },
      to: { path: '^src/', pathNot: '^src/(util|metrics|docker)/' },
    },
    {
      name: 'adapters-above-sync',
      comment: 'sync/ and the layers below it stay free of Docker and Prometheus',
      severity: 'error',
      from: { path: '^src/(sync|pg|sqlite|conflicts|model|util)/' },
      to: { path: '^src/(metrics|docker)/' },
    },
    {
      name: 'no-circular',
      comment: 'a cycle makes the load order (and the bundle) fragile',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-dev-dependencies-at-run-time',
      comment: 'an installed package has no development dependencies (except the demo, loaded on demand)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(ops/demo|pg/embedded)\\.ts$' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
