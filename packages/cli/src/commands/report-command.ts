import { resolve } from 'node:path';
import type { CliIo } from '../cli-io';
import { screenshotReport } from '../report/headless-chromium';
import { writeRunReport } from '../report/write-run-report';

export interface ReportCommandOptions {
  runDir: string;
  /** Also save a full-page PNG of the report here. */
  screenshot?: string;
}

export async function runReportCommand(io: CliIo, options: ReportCommandOptions): Promise<void> {
  const reportPath = await writeRunReport(resolve(io.cwd, options.runDir));
  io.stdout.write(`wrote ${reportPath}\n`);
  if (options.screenshot !== undefined) {
    const screenshotPath = resolve(io.cwd, options.screenshot);
    await screenshotReport(reportPath, screenshotPath);
    io.stdout.write(`wrote ${screenshotPath}\n`);
  }
}
