import Docker from 'dockerode';
import { ConfigError, messageOf, OwuiError } from '../util/errors.ts';

/**
 * Docker swarm secrets: the host role's password for containers that read /run/secrets/<name>.
 * The engine is the one DOCKER_HOST names, or the local socket. Swarm secrets cannot be changed, so a
 * rotation removes the old secret and creates a new one under the same name.
 */
export class SwarmSecrets {
  private readonly docker: Docker;
  constructor(docker?: Docker) {
    this.docker = docker ?? new Docker();
  }

  /** Fails with an operator-readable error when there is no engine, or it is not in swarm mode. */
  async requireSwarm(): Promise<void> {
    try {
      await this.docker.swarmInspect();
    } catch (err) {
      const code = (err as { statusCode?: number; code?: string }).statusCode ?? (err as { code?: string }).code;
      if (code === 503 || code === 406) {
        throw new ConfigError(
          'the Docker engine is not in swarm mode, and Docker secrets need it',
          'run docker swarm init, or use --secret-file PATH (a root-only file mounted at /run/secrets/db_sync_password)',
        );
      }
      throw new ConfigError(
        `cannot reach the Docker engine: ${messageOf(err)}`,
        'check that Docker runs and this user may use its socket (or set DOCKER_HOST); or use --secret-file PATH',
      );
    }
  }

  async find(name: string): Promise<{ id: string } | undefined> {
    const list = await this.docker.listSecrets({ filters: JSON.stringify({ name: [name] }) });
    const s = list.find((x) => x.Spec?.Name === name);
    return s ? { id: s.ID } : undefined;
  }

  /** Remove a secret; refuses (with the services that hold it) when a service uses it. */
  async remove(name: string, id: string): Promise<void> {
    try {
      await this.docker.getSecret(id).remove();
    } catch (err) {
      const m = messageOf(err);
      if (/in use/i.test(m)) {
        throw new ConfigError(
          `Docker secret ${name} is in use by a service, and swarm secrets cannot be changed in place`,
          `rotate into a new name (--docker-secret ${name}_v2) and point the service at it with docker service update --secret-rm ${name} --secret-add source=${name}_v2,target=db_sync_password`,
        );
      }
      throw new OwuiError(`cannot remove Docker secret ${name}: ${m}`, { cause: err });
    }
  }

  async create(name: string, value: string, labels: Record<string, string>): Promise<string> {
    try {
      const s = await this.docker.createSecret({
        Name: name,
        Data: Buffer.from(`${value}\n`).toString('base64'),
        Labels: labels,
      });
      return (s as unknown as { id: string }).id;
    } catch (err) {
      throw new OwuiError(`cannot create Docker secret ${name}: ${messageOf(err)}`, {
        hint: 'check the name (letters, digits, "-", "_", ".") and that this user may manage swarm secrets',
        cause: err,
      });
    }
  }
}
