using System.Reflection;
using Akka.Configuration;

namespace Engine.Host;

/// <summary>
/// Loads the configuration: the embedded <c>hocon/engine.conf</c> (every default), then the file given
/// with <c>--config</c>, then each <c>--set key=value</c>, the last one winning.
/// </summary>
public static class EngineConfig
{
    public static Config Defaults()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("engine.conf")
                           ?? throw new InvalidOperationException("engine.conf is not embedded");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    public static Config Load(string? file, IEnumerable<string> settings)
    {
        var config = Defaults();
        if (file is not null)
            config = ConfigurationFactory.ParseString(File.ReadAllText(file)).WithFallback(config);
        foreach (var setting in settings)
            config = ConfigurationFactory.ParseString(ToHocon(setting)).WithFallback(config);
        return config;
    }

    /// <summary>"engine.smtp.recipient-limit=10" becomes the HOCON line "engine.smtp.recipient-limit = 10".</summary>
    private static string ToHocon(string setting)
    {
        var eq = setting.IndexOf('=');
        if (eq <= 0)
            throw new ConfigurationException($"--set takes key=value, not '{setting}'");
        return $"{setting[..eq].Trim()} = {setting[(eq + 1)..].Trim()}";
    }
}
