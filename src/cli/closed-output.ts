/**
 * What the CLI does when its output can no longer be written.
 *
 * A reader that stops early (`berth deploys | head -3`, `berth logs ID |
 * grep -m1 error`) closes the pipe while Berth is still writing; the next
 * write fails with EPIPE, which Node reports as an 'error' event that, with
 * no listener, ends the process with a stack trace. The reader has what it
 * wanted, so Berth stops at once and exits 0, quietly, as a program killed
 * by SIGPIPE would stop, but without a status that fails `set -o pipefail`
 * scripts. Commands write to standard output only once their work is done
 * (or, for `logs --follow`, only to show it), so stopping there never cuts a
 * publish or a deploy short.
 *
 * Any other failure to write standard output (a full disk behind `>`) is a
 * failure of the command: one line on standard error and exit 1.
 *
 * Standard error closed early loses Berth's messages and nothing else: the
 * command goes on and exits with its own status.
 */
export function handleClosedOutput(stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, exit: (code: number) => never): void {
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(0);
    stderr.write(`berth: cannot write the output: ${error.message}\n`);
    exit(1);
  });
  stderr.on('error', () => {
    // Nowhere is left to report it; the exit status still tells.
  });
}
