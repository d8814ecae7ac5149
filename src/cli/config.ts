import { Command } from './commander.ts';
import { type Io, printJson, table } from './output.ts';

/** Every setting `config show` reports: the settings files' names and the per-process ones. */
const PER_PROCESS = ['ROLE', 'API_PORT', 'NODE_ID', 'OWUI_SYNC_API_BIND', 'OWUI_SYNC_ADVERTISE_URL'];

const webhookShown = (url: string) => {
  try {
    return `${new URL(url).origin}/***`;
  } catch {
    return '(not a URL)';
  }
};

export function configCommand(io: Io): Command {
  const cmd = new Command('config').description('the settings in force and where each comes from');
  cmd
    .command('show')
    .description('print every setting in force and its source: environment, a settings file, or the default')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Settings files (JSON objects of the environment's names; paths and password-less URLs only, never secrets):
  /etc/owui-sync/config.json, then ~/.config/owui-sync/config.json (the user's wins), or the one file that
  OWUI_SYNC_CONFIG names (empty: none). A file other users can write is refused. Flags and the environment come first.
Example /etc/owui-sync/config.json:
  { "OWUI_SYNC_DATABASE_URL": "postgresql://sync_service_prod-host-1@db.example.com:5432/postgres",
    "OWUI_SYNC_DATABASE_PASSWORD_FILE": "/etc/owui-sync/db_sync_password",
    "OWUI_SYNC_ADMIN_URL_FILE": "/root/.owui-sync/admin-url", "OWUI_SYNC_HOST": "prod-host-1" }`,
    )
    .action(async (_opts: unknown, c: Command) => {
      const { appliedFromFiles, FILE_SETTINGS, readSettingsFiles, settingsFiles } = await import(
        '../util/settings-file.ts'
      );
      const { redactText } = await import('../util/redact.ts');
      const files = settingsFiles().map((file) => {
        try {
          const n = readSettingsFiles([file]).size;
          return { file, state: n ? `read (${n} settings)` : 'absent or empty' };
        } catch (err) {
          return { file, state: `REFUSED: ${(err as Error).message}` };
        }
      });
      const rows = [...FILE_SETTINGS, ...PER_PROCESS].map((name) => {
        const value = process.env[name];
        const fromFile = appliedFromFiles.get(name);
        const source =
          value === undefined || value === '' ? 'not set' : fromFile ? `file ${fromFile.file}` : 'environment';
        // Values are paths, URLs without passwords and numbers; redacted all the same. A webhook's path is often
        // its secret: only its origin is shown.
        const shown = value && name === 'OWUI_SYNC_NOTIFY_URL' ? `${webhookShown(value)}` : value;
        return { name, value: shown ? redactText(shown) : null, source };
      });
      if (c.optsWithGlobals().json) printJson(io, { settings: rows, files });
      else {
        io.out(
          table(
            rows.map((r) => [r.name, r.value ?? '-', r.source]),
            ['SETTING', 'VALUE', 'SOURCE'],
          ),
        );
        io.out('');
        for (const f of files) io.out(`settings file ${f.file}: ${f.state}`);
      }
    });
  return cmd;
}
