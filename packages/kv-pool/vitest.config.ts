import { packageTests } from '../../config/vitest.js';

export default packageTests({ uncovered: ['src/index.ts', 'src/types.ts'] });
