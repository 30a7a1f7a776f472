/**
 * Shell completion for the operator commands: commands, their flags, -o values, and node names
 * (from kubectl) for `history` and `reboot`. zsh loads the bash script through bashcompinit.
 */
const FLAGS = '--kubeconfig --context -n --namespace --ds-name -o --output --help';
const TAKES_VALUE = new Set([
  '--kubeconfig',
  '--context',
  '-n',
  '--namespace',
  '--ds-name',
  '-o',
  '--output',
  '--prometheus-url',
  '--reason',
]);
const PER_COMMAND: Record<string, string> = {
  status: '',
  plan: '--prometheus-url',
  reboot: '--reason --ignore-window --ignore-alerts --dry-run',
  pause: '--reason',
  resume: '',
  history: '',
  completion: '',
};

/**
 * kubectl's plugin completion (`kubectl kured-ts <TAB>`, kubectl 1.26+): kubectl runs
 * `kubectl_complete-kured_ts <args...> <word>` and reads one candidate a line, then `:<directive>`
 * (4: no file completion, as cobra's protocol says). Node names need the cluster: not offered.
 */
export function kubectlCompletion(args: readonly string[]): string[] {
  const word = args.at(-1) ?? '';
  const before = args.slice(0, -1);
  // The command is the first word that is neither a flag nor a flag's value.
  const cmd = before.find((a, i) => !a.startsWith('-') && !TAKES_VALUE.has(before[i - 1] ?? ''));
  const prev = before.at(-1);
  let candidates: string[];
  if (prev === '-o' || prev === '--output') candidates = ['wide', 'json', 'yaml'];
  else if (cmd === undefined) candidates = Object.keys(PER_COMMAND);
  else if (cmd === 'completion') candidates = ['bash', 'zsh'];
  else candidates = `${FLAGS} ${PER_COMMAND[cmd] ?? ''}`.trim().split(' ');
  return [...candidates.filter((c) => c.startsWith(word)), ':4'];
}

export function completionScript(shell: 'bash' | 'zsh', name: string): string {
  const fn = `_${name.replace(/[^a-zA-Z0-9]/g, '_')}_complete`;
  const cases = Object.entries(PER_COMMAND)
    .map(([cmd, extra]) => `    ${cmd}) flags="${cmd === 'completion' ? '' : `${FLAGS} ${extra}`.trim()}" ;;`)
    .join('\n');
  const bash = `# ${name} completion (bash); load with: source <(${name} completion ${shell})
${fn}() {
  local cur prev cmd flags
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${Object.keys(PER_COMMAND).join(' ')}" -- "$cur") ); return
  fi
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W "wide json yaml" -- "$cur") ); return ;;
    --kubeconfig) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    --context) COMPREPLY=( $(compgen -W "$(kubectl config get-contexts -o name 2>/dev/null)" -- "$cur") ); return ;;
    -n|--namespace) COMPREPLY=( $(compgen -W "$(kubectl get namespaces -o name 2>/dev/null | sed 's|.*/||')" -- "$cur") ); return ;;
  esac
  [ "$cmd" = completion ] && { COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") ); return; }
  case "$cmd" in
${cases}
  esac
  if { [ "$cmd" = history ] || [ "$cmd" = reboot ]; } && [[ "$cur" != -* ]]; then
    COMPREPLY=( $(compgen -W "$(kubectl get nodes -o name 2>/dev/null | sed 's|.*/||')" -- "$cur") ); return
  fi
  COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
}
complete -F ${fn} ${name}
`;
  return shell === 'bash' ? bash : `autoload -U +X bashcompinit && bashcompinit\n${bash}`;
}
