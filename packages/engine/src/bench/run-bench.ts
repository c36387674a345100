/** Whether `error` is about the command line: node's parseArgs errors, and ours, which name a --flag. */
function isUsageError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) ||
    error.message.startsWith('--')
  );
}

/**
 * Runs a bench's `main`: a wrong flag prints its message and `usage`, exit code 2, not a stack;
 * any other failure is thrown on as it is.
 */
export async function runBench(usage: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (!isUsageError(error)) throw error;
    console.error(`${error.message}\nusage: ${usage}`);
    process.exitCode = 2;
  }
}
