export interface GlobalOptions {
  socket?: string;
  output?: 'text' | 'json';
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}
