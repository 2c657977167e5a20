// Takes the screenshot in docs/dashboard.md: the Aspire dashboard's resource page with the `cluster` resource
// selected, its properties open and its workers nested under it.
//
//   npm install --prefix /tmp/shot playwright-core@1
//   PLAYWRIGHT_DIR=/tmp/shot node docs/dashboard-screenshot.mjs "<login URL printed by the AppHost>" docs/dashboard-cluster.png
//
// Uses the system Chromium (Debian package `chromium`); no browser is downloaded.
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.PLAYWRIGHT_DIR ?? process.cwd()}/`);
const { chromium } = require('playwright-core');

const [loginUrl, output = 'docs/dashboard-cluster.png'] = process.argv.slice(2);
if (!loginUrl) {
  console.error('usage: node docs/dashboard-screenshot.mjs <dashboard login URL> [output.png]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1680, height: 1050 } });
  await page.goto(loginUrl, { waitUntil: 'networkidle' });
  // The resource grid: the cluster resource, with its workers nested under it.
  const cluster = page.getByText('cluster', { exact: true }).first();
  await cluster.waitFor({ timeout: 30000 });
  await page.waitForTimeout(3000); // let a couple of refreshes land
  // Select the row (by a cell beside the name, which would fold the children) to open its details...
  const box = await cluster.boundingBox();
  await page.mouse.click(box.x + 300, box.y + box.height / 2);
  // ...and show every property: the dashboard hides those it does not know by default.
  await page.getByTitle('Split horizontal').waitFor({ timeout: 15000 }); // the details pane is open
  const options = page.getByTitle('View options');
  for (let i = (await options.count()) - 1; i >= 0; i--) {
    const candidate = await options.nth(i).boundingBox();
    if (candidate && candidate.y > box.y - 80) { // the pane's own button, below the grid's toolbar
      await options.nth(i).click();
      break;
    }
  }
  await page.getByText('Show all properties').click();
  await page.getByText('Live members').first().waitFor({ timeout: 15000 });
  await page.waitForTimeout(1500);
  await page.screenshot({ path: output });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
}
