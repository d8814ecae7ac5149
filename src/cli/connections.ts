import { requireAdminUrl, requireDatabaseUrl } from '../util/config.ts';
import { Option } from './commander.ts';
import type { Io } from './output.ts';

export const databaseUrlOption = () =>
  new Option(
    '--database-url <url>',
    'runtime connection (default: OWUI_SYNC_DATABASE_URL or OWUI_SYNC_DATABASE_URL_FILE)',
  );
export const adminUrlOption = () =>
  new Option(
    '--admin-url <url>',
    'admin connection for DDL (default: OWUI_SYNC_ADMIN_URL or OWUI_SYNC_ADMIN_URL_FILE)',
  );

function warnArgvPassword(io: Io, flag: string, url: string | undefined) {
  if (!url) return;
  try {
    if (new URL(url).password)
      io.err(
        `warning: the password in ${flag} is visible to other users in the process list; prefer the _FILE variable`,
      );
  } catch {
    /* reported when the URL is used */
  }
}

export function databaseUrl(io: Io, flag: string | undefined): string {
  warnArgvPassword(io, '--database-url', flag);
  return requireDatabaseUrl(flag);
}

export function adminUrl(io: Io, flag: string | undefined): string {
  warnArgvPassword(io, '--admin-url', flag);
  return requireAdminUrl(flag);
}
