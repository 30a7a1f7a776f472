/** spdx-expression-parse ships no types: it returns the expression's tree, or throws on a non-SPDX expression. */
declare module 'spdx-expression-parse' {
  const parse: (expression: string) => unknown;
  export default parse;
}
