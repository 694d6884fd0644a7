namespace Engine.Primitives;

/// <summary>The BODY parameter of MAIL (RFC 6152; BINARYMIME is not offered).</summary>
public enum BodyType { SevenBit, EightBitMime }

/// <summary>RET of RFC 3461 section 4.3: what a bounce returns of the message.</summary>
public enum DsnReturn { Unspecified, Full, Headers }

/// <summary>NOTIFY of RFC 3461 section 4.1, as flags; <c>Never</c> stands alone.</summary>
[Flags]
public enum DsnNotify { Unspecified = 0, Never = 1, Success = 2, Failure = 4, Delay = 8 }
