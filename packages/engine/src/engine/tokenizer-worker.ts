// The entry of the tokenizer thread: long prompts are encoded here, off the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { serveTokenizer } from './tokenizer-service.js';

if (!parentPort) throw new Error('tokenizer-worker must run in a worker thread');
serveTokenizer(parentPort, (workerData as { model: string }).model);
