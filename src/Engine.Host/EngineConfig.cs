using System.Reflection;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Engine.Host.Configuration;

namespace Engine.Host;

/// <summary>
/// Loads the configuration: the embedded <c>hocon/engine.conf</c> (every default), then the file given
/// with <c>--config</c>, then each <c>--set key=value</c>, the last one winning. A file whose structure is
/// broken is refused with its line and the reason before Akka's parser sees it.
/// </summary>
public static partial class EngineConfig
{
    public static Config Defaults()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("engine.conf")
                           ?? throw new InvalidOperationException("engine.conf is not embedded");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    public static Config Load(string? file, IEnumerable<string> settings) => Read(file, settings).Config;

    /// <summary>The configuration, and the line of each key of the file (for errors found in a value later).</summary>
    public static (Config Config, IReadOnlyDictionary<string, int> Lines) Read(string? file, IEnumerable<string> settings)
    {
        var config = Defaults();
        IReadOnlyDictionary<string, int> lines = new Dictionary<string, int>();
        if (file is not null)
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigurationException($"{file}: {e.Message}");
            }
            (var parsed, lines) = Parse(text, file);
            config = parsed.WithFallback(config);
        }
        foreach (var setting in settings)
            config = Parse(ToHocon(setting), $"--set {setting}").Config.WithFallback(config);
        return (config, lines);
    }

    /// <summary>Parses HOCON text after <see cref="HoconCheck"/>; errors name <paramref name="source"/> and the line.</summary>
    public static (Config Config, IReadOnlyDictionary<string, int> Lines) Parse(string text, string source)
    {
        var (error, lines) = HoconCheck.Check(text);
        if (error is not null)
            throw new ConfigurationException($"{source}: {error}");
        try
        {
            return (ConfigurationFactory.ParseString(text), lines);
        }
        catch (Exception e) when (e is FormatException or ConfigurationException or InvalidOperationException or ArgumentException)
        {
            // Akka's own errors carry no position; an unresolved ${path} can at least be found in the text.
            var line = Substitution().Match(e.Message) is { Success: true } m
                && text.IndexOf("${" + m.Groups[1].Value, StringComparison.Ordinal) is var at and >= 0
                ? text[..at].Count(c => c == '\n') + 1 : (int?)null;
            throw new ConfigurationException(line is null ? $"{source}: {e.Message}" : $"{source}: line {line}: {e.Message}");
        }
    }

    /// <summary>
    /// An error of a value ("engine.smtp.restrictions.recipient: unknown restriction 'x'") with the line of the file
    /// where that setting (or its nearest parent) was written, when it was.
    /// </summary>
    public static string Locate(string message, string? file, IReadOnlyDictionary<string, int> lines) =>
        file is not null && SettingName().Match(message) is { Success: true } m && HoconCheck.LineOf(lines, m.Value) is { } line
            ? $"{file}: line {line}: {message}"
            : message;

    /// <summary>"engine.smtp.recipient-limit=10" becomes the HOCON line "engine.smtp.recipient-limit = 10".</summary>
    private static string ToHocon(string setting)
    {
        var eq = setting.IndexOf('=');
        if (eq <= 0)
            throw new ConfigurationException($"--set takes key=value, not '{setting}'");
        return $"{setting[..eq].Trim()} = {setting[(eq + 1)..].Trim()}";
    }

    [GeneratedRegex(@"substitution:?\s*\$?\{?\??([\w.\-""]+)", RegexOptions.IgnoreCase)]
    private static partial Regex Substitution();

    [GeneratedRegex(@"engine(\.[A-Za-z0-9_\-]+)+")]
    private static partial Regex SettingName();
}
