/**
 * Where tasks find the instance metadata service: the link-local addresses
 * EC2 uses (IPv4, and the IPv6 one of Nitro instances). Defined once; the
 * proxy listens there, the local driver routes there, the ENI guard and the
 * packet filter keep a task's ENI traffic away from there.
 */
export const METADATA_IPV4 = '169.254.169.254';
export const METADATA_IPV6 = 'fd00:ec2::254';
