// Test helpers for ops, built-in and custom: backend parity, gradient checks, seeded inputs.

export { expectParity, testBackends, type ParityOptions, type Tolerance } from './parity.js';
export { gradcheck, type GradcheckOptions } from './gradcheck.js';
export { inputValues, type InputSpec } from './inputs.js';
