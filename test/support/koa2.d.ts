// koa@2 is installed under the alias `koa2` so both majors run in one suite; @types/koa covers both.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
