/**
 * Resolves on the first SIGTERM or SIGINT and keeps handling both until
 * `dispose`, so a second signal during a graceful stop (Ctrl-C reaches every
 * process of the group, then the primary forwards SIGTERM) does not kill the
 * process half-way.
 */
export function shutdownSignal(): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let resolve: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((done) => {
    resolve = done;
  });
  const onSignal = (signal: NodeJS.Signals): void => resolve(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    received,
    dispose() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
