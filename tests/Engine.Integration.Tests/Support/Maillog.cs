using System.Globalization;
using System.Text.RegularExpressions;

namespace Engine.Integration.Tests.Support;

/// <summary>Checks of the maillog's delivery lines, in Postfix's shape.</summary>
public static partial class Maillog
{
    [GeneratedRegex(@", delay=(?<delay>\d+(\.\d+)?), delays=(?<a>\d+(\.\d+)?)/(?<b>\d+(\.\d+)?)/(?<c>\d+(\.\d+)?)/(?<d>\d+(\.\d+)?), dsn=")]
    private static partial Regex DelaysPattern();

    /// <summary>
    /// The line has "delay=D, delays=a/b/c/d" before its dsn, as Postfix writes them, and the four parts add up to the
    /// delay (each is rounded to hundredths); returns them.
    /// </summary>
    public static (double A, double B, double C, double D) AssertDelays(string line)
    {
        var match = DelaysPattern().Match(line);
        Assert.True(match.Success, $"no delay=, delays=a/b/c/d in: {line}");
        double Of(string name) => double.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture);
        var parts = (Of("a"), Of("b"), Of("c"), Of("d"));
        var sum = parts.Item1 + parts.Item2 + parts.Item3 + parts.Item4;
        Assert.True(Math.Abs(sum - Of("delay")) <= 0.03, $"delays add up to {sum}, not to the delay: {line}");
        return parts;
    }
}
