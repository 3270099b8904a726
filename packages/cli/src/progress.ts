import cliProgress from 'cli-progress';
import type { CliIo } from './cli-io';
import { formatNumber } from './report/svg-line-chart';

export interface StepProgress {
  /** Global step, 1-based after the step ran. */
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  /** Images per second over the recent steps. */
  imagesPerSecond: number;
}

export interface TrainingProgress {
  update(progress: StepProgress): void;
  /** An end-of-epoch line (online kNN accuracy, epoch loss) printed above the bar. */
  log(line: string): void;
  stop(): void;
}

/**
 * An animated bar (step, loss, LR, throughput, ETA) when stderr is a terminal; otherwise one plain line at
 * most every `logEverySteps` steps so CI logs stay readable instead of filling with carriage returns.
 */
export function createTrainingProgress(io: CliIo, totalSteps: number, options: { logEverySteps?: number } = {}): TrainingProgress {
  if (!io.interactive) {
    const every = options.logEverySteps ?? Math.max(1, Math.round(totalSteps / 20));
    return {
      update(progress) {
        if (progress.step % every === 0 || progress.step === totalSteps) io.stderr.write(`${formatProgressLine(progress, totalSteps)}\n`);
      },
      log(line) {
        io.stderr.write(`${line}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epoch} {bar} {value}/{total} | loss {loss} | lr {lr} | {throughput} img/s | eta {eta_formatted}',
      stream: io.stderr as NodeJS.WriteStream,
      hideCursor: true,
      etaBuffer: 50,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalSteps, 0, { epoch: 1, loss: '-', lr: '-', throughput: '-' });
  return {
    update(progress) {
      bar.update(progress.step, {
        epoch: progress.epoch,
        loss: formatNumber(progress.loss),
        lr: formatNumber(progress.lr),
        throughput: Math.round(progress.imagesPerSecond),
      });
    },
    log(line) {
      // cli-progress redraws on the current line; clear it, print, and let the next update redraw the bar.
      io.stderr.write(`\r\x1b[2K${line}\n`);
      bar.render();
    },
    stop() {
      bar.stop();
    },
  };
}

export function formatProgressLine(progress: StepProgress, totalSteps: number): string {
  return `step ${progress.step}/${totalSteps} epoch ${progress.epoch} loss ${formatNumber(progress.loss)} lr ${formatNumber(progress.lr)} ${Math.round(progress.imagesPerSecond)} img/s`;
}
