export { PageAllocator } from './page-allocator.js';
