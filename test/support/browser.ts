import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_PATH } from './services.js';

/**
 * Starts one headless Chromium (`CHROMIUM_PATH`, Debian's by default; `.ci/run` installs it)
 * for a test file; close it in `afterAll`. Tests that use it have Chromium in their names.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
}
