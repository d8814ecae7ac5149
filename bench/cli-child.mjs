// Runs one owui-sync command as it ships: the compiled package (dist/), in a process of its own, which the parent
// starts with the executable's V8 options (src/util/memory.ts NODE_FLAGS). After the command's own output, it
// prints one line on stderr: `BENCH {"ms":...,"code":...,"maxRssMb":...}`, the process's peak RSS included.
// Plain JavaScript, so that no TypeScript loader thread (tsx: about 35 MB) counts in what is measured.
const { main } = await import(new URL('../dist/cli/main.js', import.meta.url).href);
const t0 = performance.now();
const code = await main(['node', 'owui-sync', ...process.argv.slice(2)]);
const out = { ms: performance.now() - t0, code, maxRssMb: process.resourceUsage().maxRSS / 1024 };
process.stderr.write(`BENCH ${JSON.stringify(out)}\n`);
process.exitCode = code;
