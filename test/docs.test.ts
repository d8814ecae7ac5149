import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Every Markdown page of the project (not its dependencies' pages). */
function pages(): string[] {
  const out = ['README.md'];
  for (const dir of ['docs', 'bench', 'templates'])
    for (const f of fs.readdirSync(path.join(ROOT, dir))) if (f.endsWith('.md')) out.push(`${dir}/${f}`);
  return out;
}

/** The page's lines outside code fences (a `#` comment in a shell block is not a heading). */
function prose(text: string): string[] {
  let fence = false;
  return text.split('\n').filter((l) => {
    if (l.startsWith('```')) fence = !fence;
    return !fence && !l.startsWith('```');
  });
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to '-', repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const l of prose(text)) {
    const m = /^#{1,6} (.*)$/.exec(l);
    if (!m) continue;
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every relative link of every page that names a missing file or a heading its page does not have. */
function brokenLinks(): string[] {
  const broken: string[] = [];
  for (const page of pages()) {
    const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
    for (const l of prose(text))
      for (const m of l.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), file);
        if (!fs.existsSync(resolved)) {
          broken.push(`${page}: ${target} (no such file)`);
          continue;
        }
        if (anchor && !anchors(fs.readFileSync(resolved, 'utf8')).has(anchor))
          broken.push(`${page}: ${target} (no such heading)`);
      }
  }
  return broken;
}

describe('the documentation', () => {
  it('has a README a newcomer reads in one go, and every relative link and anchor of every page resolves', () => {
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(200);
    expect(brokenLinks()).toEqual([]);
  });

  it('computes anchors as GitHub does', () => {
    expect([
      ...anchors(
        "# A\n## High availability: the agent\n```\n# not a heading\n```\n## Adopting the toolkit's `sync_metadata`\n## A\n",
      ),
    ]).toEqual(['a', 'high-availability-the-agent', 'adopting-the-toolkits-sync_metadata', 'a-1']);
  });
});
