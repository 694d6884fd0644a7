using Engine.Cli;

// enginectl: the operators' command line for a whole Engine cluster, through the admin HTTP API of any node.
return await Commands.RunAsync(args).ConfigureAwait(false);
