// Types for @xmpp/xml's parse helper, which the package ships without declarations.
declare module '@xmpp/xml/lib/parse.js' {
  import type { Element } from '@xmpp/xml';
  export default function parse(text: string): Element;
}
