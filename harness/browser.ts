// Headless Chromium from Debian's packages (`apt-get install chromium`), driven by playwright-core:
// the real browser the dashboard tests open the page in. Set BAZAAR_CHROMIUM to use another binary.
import { access } from 'node:fs/promises';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.BAZAAR_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  try {
    await access(CHROMIUM);
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (.ci/run does), or set BAZAAR_CHROMIUM`);
  }
  // Without the background-networking flags, Chromium keeps trying to reach Google's hosts; this
  // machine's network refuses them and the test would wait on nothing.
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
