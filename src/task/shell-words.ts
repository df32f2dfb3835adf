import { invalidArgument } from '../common/errors.js';

/**
 * Splits a flat command string into words the way a POSIX shell (and Docker's
 * shell-word parser, which Titus used for `entrypointStr`) does: whitespace
 * separates words, single quotes are literal, double quotes allow backslash
 * escapes of `"`, `\`, `$` and backquote, and a bare backslash escapes the next
 * character. Variables are not expanded: the container's shell can do that.
 */
export const splitShellWords = (input: string, field = 'containerInfo.entrypointStr'): string[] => {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < input.length) {
    const c = input.charAt(i);
    if (c === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) throw invalidArgument(field, 'unterminated single quote');
      word += input.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const [text, next] = readDoubleQuoted(input, i + 1, field);
      word += text;
      inWord = true;
      i = next;
    } else if (c === '\\') {
      if (i + 1 < input.length) word += input.charAt(i + 1);
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i += 1;
    } else {
      word += c;
      inWord = true;
      i += 1;
    }
  }
  if (inWord) words.push(word);
  return words;
};

const readDoubleQuoted = (input: string, start: number, field: string): [string, number] => {
  let text = '';
  let i = start;
  while (i < input.length) {
    const c = input.charAt(i);
    if (c === '"') return [text, i + 1];
    if (c === '\\' && i + 1 < input.length && '"\\$`'.includes(input.charAt(i + 1))) {
      text += input.charAt(i + 1);
      i += 2;
    } else {
      text += c;
      i += 1;
    }
  }
  throw invalidArgument(field, 'unterminated double quote');
};
