/** prom-client's own files, imported one by one by ./prom.ts (the package has no exports map). */
declare module 'prom-client/lib/*.js' {
  const value: unknown;
  export default value;
}
declare module 'prom-client/lib/metrics/*.js' {
  const collect: (registry: import('prom-client').Registry, config: object) => void;
  export default collect;
}
