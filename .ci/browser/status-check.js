// Opens the status page in headless Chromium and checks the expiry timeline is really drawn.
// Usage: node status-check.js PAGE.html SCREENSHOT.png
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const [pageFile, screenshot] = process.argv.slice(2);

function fail(msg) {
  console.error(`browser-check: ${msg}`);
  process.exitCode = 1;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // The page must need nothing from the network.
    const requests = [];
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    await page.goto('file://' + path.resolve(pageFile), { waitUntil: 'load' });

    const result = await page.evaluate(() => {
      const apps = document.querySelectorAll('.details tbody').length;
      const rows = [...document.querySelectorAll('.timeline .row')].map((row) => {
        const box = row.getBoundingClientRect();
        const track = row.querySelector('.track').getBoundingClientRect();
        const marker = row.querySelector('.marker');
        const m = marker && marker.getBoundingClientRect();
        const centre = m && { x: m.left + m.width / 2, y: m.top + m.height / 2 };
        return {
          app: row.dataset.app,
          height: box.height,
          trackWidth: track.width,
          hasDays: row.dataset.days !== undefined,
          marker: !!marker,
          markerVisible: !!m && m.width > 0 && m.height > 0,
          markerInside: !!centre && centre.x >= track.left && centre.x <= track.right
            && centre.y >= track.top && centre.y <= track.bottom,
        };
      });
      const external = [...document.querySelectorAll('[src],[href],link,script')].length
        + [...document.styleSheets].reduce((n, s) => n + [...s.cssRules]
          .filter((r) => r instanceof CSSImportRule || /url\(/.test(r.cssText)).length, 0);
      return { apps, rows, external };
    });

    if (result.rows.length !== result.apps || result.apps === 0) {
      fail(`${result.rows.length} timeline rows for ${result.apps} apps`);
    }
    for (const r of result.rows) {
      if (!(r.height > 0) || !(r.trackWidth > 0)) fail(`row ${r.app} is not rendered (${JSON.stringify(r)})`);
      if (r.hasDays !== r.marker) fail(`row ${r.app}: marker ${r.marker}, known expiry ${r.hasDays}`);
      if (r.marker && !(r.markerVisible && r.markerInside)) fail(`row ${r.app}: marker outside its track`);
    }
    if (result.external > 0) fail(`${result.external} external references (src/href/link/script/@import/url())`);
    if (requests.length > 0) fail(`the page made network requests: ${requests.join(', ')}`);

    await page.screenshot({ path: screenshot, fullPage: true });
    // The page follows the reader's colour scheme; keep a look at the dark one too.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-dark.png'), fullPage: true });
    console.log(`browser-check: ${result.rows.length} timeline rows rendered, markers inside their tracks; screenshot ${screenshot}`);
  } finally {
    await browser.close();
  }
})().catch((e) => { fail(e.stack || String(e)); });
