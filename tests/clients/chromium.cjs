// tests/clients/chromium.cjs: Debian's chromium, headless, as every browser test and bench here launches it.
// Must not know which front end the page holds.
'use strict';
const { chromium } = require('playwright-core');

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags chromium keeps trying hosts this machine cannot reach.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const WAIT_MS = 60000;  // bound for anything a page has to show; never a performance assertion

async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: WAIT_MS });
}

module.exports = { launchBrowser, WAIT_MS };
