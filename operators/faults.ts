/**
 * Fault injection for tests, as public pipeable operators (portable: no Node built-in). The implementation
 * lives in `src/rx/faults/`.
 */
export * from '../src/rx/faults/index.js';
