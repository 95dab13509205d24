// express@4 is installed under the alias `express4` so both majors run in one suite; its API is typed
// well enough by @types/express for the tests' use.
declare module 'express4' {
  import express from 'express';
  export default express;
}
