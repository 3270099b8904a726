/** Draws `losses` (one per step) as a line scaled to fill `canvas`, in the pages' blue. */
export function drawLossCurve(canvas: HTMLCanvasElement, losses: readonly number[]): void {
  const context = canvas.getContext('2d');
  const finite = losses.filter((loss) => Number.isFinite(loss));
  if (!context || finite.length < 2) return;
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.beginPath();
  let drawing = false;
  losses.forEach((loss, i) => {
    // A resumed run may not know the steps before its checkpoint: the line breaks there.
    if (!Number.isFinite(loss)) {
      drawing = false;
      return;
    }
    const x = (i / (losses.length - 1)) * (canvas.width - 8) + 4;
    const y = canvas.height - 4 - ((loss - low) / (high - low || 1)) * (canvas.height - 8);
    if (drawing) context.lineTo(x, y);
    else context.moveTo(x, y);
    drawing = true;
  });
  context.strokeStyle = '#2563eb';
  context.lineWidth = 2;
  context.stroke();
}
