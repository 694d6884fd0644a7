using System.Runtime.InteropServices;
using Akka.Actor;
using Engine.Messages.Cluster;
using Microsoft.Extensions.Hosting;

namespace Engine.Host.Configuration;

/// <summary>
/// The node's "/user/config-reload": any node's admin API asks every member to reload (enginectl config reload),
/// and each answers for itself. The file is read off the actor's thread.
/// </summary>
public sealed class ConfigReloadActor : ReceiveActor
{
    public const string Name = "config-reload";

    public ConfigReloadActor(ConfigReloader reloader) => Receive<ReloadConfig>(_ => Task.Run(reloader.Reload).PipeTo(Sender));

    public static Props Props(ConfigReloader reloader) => Akka.Actor.Props.Create(() => new ConfigReloadActor(reloader));
}

/// <summary>SIGHUP reloads this node's configuration, as Postfix's and Dovecot's daemons do; the process keeps running.</summary>
public sealed class ReloadOnHangup(ConfigReloader reloader) : IHostedService, IDisposable
{
    private PosixSignalRegistration? _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true; // not the default action, which ends the process
                _ = Task.Run(reloader.Reload);
            });
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();
}
