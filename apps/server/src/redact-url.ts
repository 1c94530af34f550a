/** A URL without its password (`postgres://user:***@host/db`), for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
}
