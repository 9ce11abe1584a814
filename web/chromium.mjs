// The browser tests' one way to start Debian's Chromium through
// playwright-core (no browser download): headless, no sandbox (root in CI),
// no background networking (the machines have no internet), and a fresh
// profile that close() removes. Not under test/, so node --test does not run
// it as a test file.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

// BASE is the running system's API (and page) URL, from EZLIVE_URL.
export const BASE = (process.env.EZLIVE_URL || '').replace(/\/+$/, '');

const BROWSER = process.env.EZLIVE_CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// launchChromium starts Chromium with a new profile named after prefix;
// extraArgs are added to the flags above.
export async function launchChromium(prefix, { viewport, extraArgs = [] } = {}) {
  const profileDir = await mkdtemp(path.join(tmpdir(), `${prefix}-`));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: BROWSER,
    headless: true,
    args: [...FLAGS, ...extraArgs],
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}
