import cliProgress from 'cli-progress';

/** A progress bar per rank on stderr while weights load; plain lines when stderr is no terminal. */
export function loadProgress(): {
  update(rank: number, loaded: number, total: number): void;
  stop(): void;
} {
  if (!process.stderr.isTTY) {
    const reported = new Map<number, number>();
    return {
      update(rank, loaded, total) {
        const tenth = Math.floor((10 * loaded) / Math.max(total, 1));
        if ((reported.get(rank) ?? -1) === tenth) return;
        reported.set(rank, tenth);
        process.stderr.write(
          `loading weights: rank ${rank} ${tenth * 10}% of ${(total / 1e6).toFixed(1)} MB\n`,
        );
      },
      stop() {},
    };
  }
  const bars = new cliProgress.MultiBar(
    {
      format: 'rank {rank} |{bar}| {percentage}% {value}/{total} MB',
      clearOnComplete: false,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const byRank = new Map<number, cliProgress.SingleBar>();
  return {
    update(rank, loaded, total) {
      const mb = (n: number) => Math.round(n / 1e6);
      let bar = byRank.get(rank);
      if (!bar) {
        bar = bars.create(mb(total), 0, { rank });
        byRank.set(rank, bar);
      }
      bar.update(mb(loaded), { rank });
    },
    stop: () => bars.stop(),
  };
}
