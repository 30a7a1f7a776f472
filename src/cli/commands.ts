/** The operator commands, apart from their code: the agent's entry point dispatches on these names alone. */
export const COMMANDS = ['status', 'plan', 'reboot', 'pause', 'resume', 'history', 'completion'] as const;
