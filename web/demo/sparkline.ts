/** A sparkline on a canvas: the last N values as a line over a soft fill, sized for the device's pixel ratio. */

export class Sparkline {
  private readonly values: number[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly color: string,
    /** Points kept (one per update). */
    private readonly capacity = 60,
  ) {}

  push(v: number): void {
    this.values.push(v);
    if (this.values.length > this.capacity) this.values.shift();
    this.draw();
  }

  clear(): void {
    this.values.length = 0;
    this.draw();
  }

  draw(): void {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const hgt = c.clientHeight;
    if (w === 0 || hgt === 0) return;
    if (c.width !== Math.round(w * ratio) || c.height !== Math.round(hgt * ratio)) {
      c.width = Math.round(w * ratio);
      c.height = Math.round(hgt * ratio);
    }
    const g = c.getContext('2d');
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const n = this.values.length;
    if (n < 2) return;
    let min = Math.min(...this.values);
    let max = Math.max(...this.values);
    if (max - min < 1e-9) {
      min -= 1;
      max += 1;
    }
    const pad = 3;
    const x = (i: number) => (i / (this.capacity - 1)) * (w - 2 * pad) + pad + (w - 2 * pad) * (1 - (n - 1) / (this.capacity - 1));
    const y = (v: number) => hgt - pad - ((v - min) / (max - min)) * (hgt - 2 * pad);
    g.beginPath();
    this.values.forEach((v, i) => (i === 0 ? g.moveTo(x(i), y(v)) : g.lineTo(x(i), y(v))));
    g.strokeStyle = this.color;
    g.lineWidth = 1.75;
    g.lineJoin = 'round';
    g.stroke();
    g.lineTo(x(n - 1), hgt);
    g.lineTo(x(0), hgt);
    g.closePath();
    const fill = g.createLinearGradient(0, 0, 0, hgt);
    fill.addColorStop(0, `${this.color}40`);
    fill.addColorStop(1, `${this.color}00`);
    g.fillStyle = fill;
    g.fill();
    const last = this.values[n - 1]!;
    g.beginPath();
    g.arc(x(n - 1), y(last), 2.5, 0, Math.PI * 2);
    g.fillStyle = this.color;
    g.fill();
  }
}
