export { InMemorySaver } from './in-memory-saver.js';
